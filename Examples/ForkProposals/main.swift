import AFSCore
